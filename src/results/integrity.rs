//! Checksums of a result file, so that a flipped byte is found and named instead of read as
//! data. Two digests are stored in the Parquet file's key-value metadata (format 4 and later):
//!
//! - [`DATA_KEY`]: SHA-256 of every byte before the footer (the column chunks: values, page
//!   headers, statistics), checked against the file's bytes before anything is decoded;
//! - [`ROWS_KEY`]: SHA-256 of the rows as benchplan reads them back, checked after decoding,
//!   which covers the footer (schema, offsets) that the first digest cannot include, since the
//!   digests live there.
//!
//! Files written before format 4 carry neither and are read as before.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

use super::record::CellRecord;

/// Key of the digest of the bytes before the footer.
pub const DATA_KEY: &str = "benchplan.data_sha256";
/// Key of the digest of the decoded rows.
pub const ROWS_KEY: &str = "benchplan.rows_sha256";

/// The bytes of a Parquet file before its footer (`None` when the file's tail does not
/// describe a footer that fits: the file is truncated or not Parquet).
pub fn before_footer(parquet: &[u8]) -> Option<&[u8]> {
    let n = parquet.len();
    if n < 12 || &parquet[n - 4..] != b"PAR1" {
        return None;
    }
    let footer = u32::from_le_bytes(parquet[n - 8..n - 4].try_into().ok()?) as usize;
    let end = n.checked_sub(8)?.checked_sub(footer)?;
    (end >= 4).then(|| &parquet[..end])
}

/// SHA-256 of the bytes before the footer.
pub fn data_digest(parquet: &[u8]) -> Option<String> {
    before_footer(parquet).map(|b| format!("{:x}", Sha256::digest(b)))
}

/// SHA-256 of the rows: every field of every row, in order (`Debug` prints floats exactly).
pub fn rows_digest(records: &[CellRecord]) -> String {
    rows_digest_of_format(records, super::schema::FORMAT_VERSION)
}

/// The fields format 5 added, as `Debug` prints them on a row of an older file (which lacks
/// them): a format 4 file's digest was taken before they existed.
const ADDED_IN_5: &str = "framework: None, framework_version: None, program_info: None, ";

/// The fields format 6 added, likewise.
const ADDED_IN_6: &str =
    "energy_j: None, energy_timed_s: None, energy_source: None, energy_note: None, ";

/// The field format 7 added (the device state), as a row of an older file prints it.
fn added_in_7() -> String {
    format!(
        "device_state: {:?}, ",
        crate::energy::state::DeviceState::default()
    )
}

/// The field format 8 added (`kernels`), with its neighbours: `kernels: None` alone could
/// also be a parameter's name in the row's printed params.
const ADDED_IN_8: &str = ", kernels: None, stages: ";

/// The rows digest as a file of result format `version` computed it.
pub fn rows_digest_of_format(records: &[CellRecord], version: u32) -> String {
    let mut h = Sha256::new();
    for r in records {
        let text = format!("{r:?}\n");
        let text = if version < 8 {
            text.replacen(ADDED_IN_8, ", stages: ", 1)
        } else {
            text
        };
        let text = if version < 7 {
            text.replacen(&added_in_7(), "", 1)
        } else {
            text
        };
        let text = if version < 6 {
            text.replacen(ADDED_IN_6, "", 1)
        } else {
            text
        };
        let text = if version < 5 {
            text.replacen(ADDED_IN_5, "", 1)
        } else {
            text
        };
        h.update(text.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Checks the stored data digest against the file's bytes (before decoding).
pub fn check_data(path: &Path, bytes: &[u8], stored: Option<&str>) -> Result<()> {
    if let Some(stored) = stored {
        if data_digest(bytes).as_deref() != Some(stored) {
            bail!(corrupt(
                path,
                "its data does not match the checksum stored with it"
            ));
        }
    }
    Ok(())
}

/// Checks the stored rows digest against the decoded rows.
pub fn check_rows(
    path: &Path,
    records: &[CellRecord],
    stored: Option<&str>,
    version: u32,
) -> Result<()> {
    if let Some(stored) = stored {
        if rows_digest_of_format(records, version) != stored {
            bail!(corrupt(
                path,
                "its rows do not match the checksum stored with it"
            ));
        }
    }
    Ok(())
}

/// The message for a corrupt file: what is wrong and what to do.
pub fn corrupt(path: &Path, what: &str) -> String {
    format!(
        "`{}` is corrupt: {what}; restore it from git or a backup, or delete it and run the plan again",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_is_found_from_the_tail_and_a_short_file_has_none() {
        // "PAR1" data(3) footer(2) len=2 "PAR1"
        let mut f = b"PAR1abcXY".to_vec();
        f.extend(2u32.to_le_bytes());
        f.extend(b"PAR1");
        assert_eq!(before_footer(&f), Some(&b"PAR1abc"[..]));
        assert_eq!(before_footer(b"PAR1"), None);
        let mut bad = f.clone();
        let n = bad.len();
        bad[n - 8] = 0xff; // a footer longer than the file
        assert_eq!(before_footer(&bad), None);
    }
}
