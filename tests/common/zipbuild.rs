//! Zip archives built byte by byte for the scanner tests (pickle_zip, pickle_bounds): entries
//! with any name, method, sizes and extra fields, so that confusions a zip library would refuse
//! to write can be written.
#![allow(dead_code)]

pub struct Ent {
    pub name: Vec<u8>,
    pub local_name: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub method: u16,
    pub size: u32,
    pub central_extra: Vec<u8>,
    /// Central entry pointing at another entry's local header.
    pub local_of: Option<usize>,
}

pub fn ent(name: &str, data: &[u8]) -> Ent {
    Ent {
        name: name.into(),
        local_name: None,
        data: data.to_vec(),
        method: 0,
        size: data.len() as u32,
        central_extra: Vec::new(),
        local_of: None,
    }
}

pub fn zip(entries: &[Ent]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        if e.local_of.is_some() {
            continue;
        }
        let name = e.local_name.as_ref().unwrap_or(&e.name);
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // time, date, crc
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
    }
    let cd = out.len() as u32;
    for (i, e) in entries.iter().enumerate() {
        let src = e.local_of.map_or(e, |j| &entries[j]);
        out.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
        out.extend_from_slice(&src.method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(src.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&src.size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(e.central_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 10]); // comment length, disk, attributes
        out.extend_from_slice(&offsets[e.local_of.unwrap_or(i)].to_le_bytes());
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.central_extra);
    }
    let cd_len = out.len() as u32 - cd;
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}
