//! S3's wire formats that have nothing to do with state: the `aws-chunked` body framing, URI
//! percent-decoding, the `encoding-type=url` encoding of listings, the little XML the requests
//! carry (DeleteObjects, CompleteMultipartUpload, CreateBucket), `Range` headers and timestamps.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::clock::Millis;

/// Removes the `aws-chunked` framing (`Content-Encoding: aws-chunked`, `x-amz-content-sha256:
/// STREAMING-...`) that SDKs use to send a body with a checksum trailer:
///
/// ```text
/// <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
/// [<trailer>:<value>\r\n ...]\r\n
/// ```
///
/// Chunk signatures and trailers (checksums, the trailer signature) are not checked, as
/// signatures are not checked anywhere. Errors say what is wrong with the framing.
pub fn decode_aws_chunked(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let end = find(body, b"\r\n").ok_or("a chunk header does not end in CRLF")?;
        let header = std::str::from_utf8(&body[..end]).map_err(|_| "a chunk header is not text")?;
        let size_hex = header.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        body = &body[end + 2..];
        if size == 0 {
            // Trailers follow (checksums, the trailer signature); nothing of them is kept.
            return Ok(out);
        }
        if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
            return Err(format!("a chunk of {size} bytes is cut short or not followed by CRLF"));
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `%XX` escapes of a URI path or query component (a `+` stays a `+`, as S3 reads
/// paths); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The encoding of `encoding-type=url` listings: what `urllib.parse.unquote_plus` (botocore's
/// decoder) turns back into the key. Unreserved characters and `/` stay, a space becomes `+`,
/// every other byte `%XX`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Resolves the five predefined entities and numeric character references; `None` for an
/// unknown or unterminated entity.
pub fn xml_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let semi = after.find(';')?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The raw content of every `<name>` element of `xml` (attributes allowed, `<name/>` is empty),
/// in document order. Enough for S3's request documents, which never nest an element in one of
/// the same name; an element without its closing tag ends the search.
pub fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if !after.starts_with(['>', '/', ' ', '\t', '\r', '\n']) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        if after[..gt].ends_with('/') {
            out.push("");
            rest = &after[gt + 1..];
            continue;
        }
        let content = &after[gt + 1..];
        let Some(end) = content.find(&close) else { break };
        out.push(&content[..end]);
        rest = &content[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<name>` element; `None` when there is none or its text
/// has an entity that [`xml_unescape`] refuses.
pub fn text(xml: &str, name: &str) -> Option<String> {
    elements(xml, name).first().and_then(|t| xml_unescape(t))
}

/// ISO 8601 with milliseconds, as S3 writes timestamps in XML: `2026-01-02T03:04:05.000Z`.
pub fn iso8601(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Bytes `start..=end` (inclusive, as in `Content-Range`).
    Bytes(u64, u64),
    /// A valid range that starts past the end: 416 InvalidRange.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. Like S3, a header it cannot read (another
/// unit, several ranges, `b < a`) is ignored: `None`, the whole object.
pub fn parse_range(header: &str, size: u64) -> Option<Range> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let n: u64 = last.parse().ok()?;
        return Some(if n == 0 || size == 0 {
            Range::Unsatisfiable
        } else {
            Range::Bytes(size.saturating_sub(n), size - 1)
        });
    }
    let start: u64 = first.parse().ok()?;
    let end = if last.is_empty() {
        None
    } else {
        Some(last.parse::<u64>().ok()?)
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some(if start >= size {
        Range::Unsatisfiable
    } else {
        Range::Bytes(start, end.map_or(size - 1, |e| e.min(size - 1)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_chunks_with_a_checksum_trailer() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        assert_eq!(decode_aws_chunked(body).unwrap(), b"hello world");
    }

    #[test]
    fn signed_chunks_with_trailer_signature() {
        let sig = "a".repeat(64);
        let body = format!(
            "A;chunk-signature={sig}\r\n0123456789\r\n0;chunk-signature={sig}\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{sig}\r\n\r\n"
        );
        assert_eq!(decode_aws_chunked(body.as_bytes()).unwrap(), b"0123456789");
        // Without trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) and with binary data holding CRLF.
        let mut body = format!("4;chunk-signature={sig}\r\n").into_bytes();
        body.extend_from_slice(b"\r\n\x00\xff\r\n");
        body.extend_from_slice(format!("0;chunk-signature={sig}\r\n\r\n").as_bytes());
        assert_eq!(decode_aws_chunked(&body).unwrap(), b"\r\n\x00\xff");
    }

    #[test]
    fn broken_framing_is_an_error() {
        assert!(decode_aws_chunked(b"5\r\nhel").is_err());
        assert!(decode_aws_chunked(b"zz\r\nhello\r\n0\r\n\r\n").is_err());
        assert!(decode_aws_chunked(b"5\r\nhelloXX0\r\n\r\n").is_err());
        assert!(decode_aws_chunked(b"").is_err());
        assert_eq!(decode_aws_chunked(b"0\r\n\r\n").unwrap(), b"");
    }

    #[test]
    fn percent_decoding_keeps_plus_and_slashes() {
        assert_eq!(percent_decode("a%20b/c+d%2Fe%zz%"), "a b/c+d/e%zz%");
        assert_eq!(percent_decode("%C3%A9t%C3%A9"), "été");
    }

    #[test]
    fn url_encoding_round_trips_through_unquote_plus() {
        assert_eq!(url_encode("dir/a b+c&d=é~"), "dir/a+b%2Bc%26d%3D%C3%A9~");
    }

    #[test]
    fn xml_entities() {
        assert_eq!(
            xml_unescape("a&amp;b&lt;c&gt;d&quot;e&apos;f&#65;&#x42;&#X43;").as_deref(),
            Some("a&b<c>d\"e'fABC")
        );
        assert_eq!(xml_unescape("a&bogus;"), None);
        assert_eq!(xml_unescape("a&amp"), None);
    }

    #[test]
    fn element_contents() {
        let xml = "<?xml version=\"1.0\"?><Delete xmlns=\"x\"><Object><Key>a</Key></Object>\n\
                   <Object><KeyMarker>no</KeyMarker><Key/></Object><Quiet>true</Quiet></Delete>";
        let delete = elements(xml, "Delete");
        assert_eq!(delete.len(), 1);
        let objects = elements(delete[0], "Object");
        assert_eq!(objects.len(), 2);
        assert_eq!(elements(objects[0], "Key"), ["a"]);
        assert_eq!(elements(objects[1], "Key"), [""]);
        assert_eq!(text(xml, "Quiet").as_deref(), Some("true"));
        assert_eq!(text(xml, "Missing"), None);
    }

    #[test]
    fn timestamps_have_milliseconds() {
        assert_eq!(iso8601(1_767_323_045_000), "2026-01-02T03:04:05.000Z");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Range::Bytes(0, 4)));
        assert_eq!(parse_range("bytes=5-", 10), Some(Range::Bytes(5, 9)));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Range::Bytes(8, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Some(Range::Bytes(7, 9)));
        assert_eq!(parse_range("bytes=-30", 10), Some(Range::Bytes(0, 9)));
        assert_eq!(parse_range("bytes=10-", 10), Some(Range::Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 10), Some(Range::Unsatisfiable));
        assert_eq!(parse_range("bytes=5-2", 10), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }
}
