//! Photos: JPEG or PNG, checked by their content, never trusted by name or
//! declared type.

/// Photo rules: JPEG or PNG, checked by content, at most this many bytes.
pub const MAX_PHOTO: usize = 512 * 1024;

/// The image type of an uploaded photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoKind {
    /// image/jpeg
    Jpeg,
    /// image/png
    Png,
}

impl PhotoKind {
    /// From the stored type byte (anything but PNG is JPEG, the first
    /// format stored).
    pub fn from_code(c: u8) -> Self {
        if c == PhotoKind::Png as u8 {
            PhotoKind::Png
        } else {
            PhotoKind::Jpeg
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            PhotoKind::Jpeg => "image/jpeg",
            PhotoKind::Png => "image/png",
        }
    }
}

/// Checks an uploaded photo by its content: a complete JPEG (SOI ... EOI) or
/// a PNG (signature, then an IHDR chunk, ending with IEND).
pub fn check_photo(bytes: &[u8]) -> Result<PhotoKind, &'static str> {
    if bytes.len() > MAX_PHOTO {
        return Err("photo larger than 512 KiB");
    }
    if bytes.len() >= 4
        && bytes[..3] == [0xFF, 0xD8, 0xFF]
        && bytes[bytes.len() - 2..] == [0xFF, 0xD9]
    {
        return Ok(PhotoKind::Jpeg);
    }
    const SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if bytes.len() >= 8 + 25 + 12
        && bytes[..8] == SIG
        && &bytes[12..16] == b"IHDR"
        && &bytes[bytes.len() - 8..bytes.len() - 4] == b"IEND"
    {
        return Ok(PhotoKind::Png);
    }
    Err("photo must be a JPEG or PNG image")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_are_checked_by_content() {
        assert_eq!(
            check_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 0xFF, 0xD9]),
            Ok(PhotoKind::Jpeg)
        );
        assert!(check_photo(b"GIF89a......").is_err());
        assert!(check_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2]).is_err());
        assert!(check_photo(&vec![0u8; MAX_PHOTO + 1]).is_err());
    }
}
