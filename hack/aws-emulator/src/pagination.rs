//! `MaxResults`/`NextToken` pagination with opaque, operation-bound tokens.

use crate::error::{ApiError, ApiResult};
use crate::validate::{Input, check_range};

/// One page request: where to start and how many items at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: usize,
    pub limit: usize,
}

/// Reads `MaxResults` (validated to `min..=max`, `default` when absent) and
/// `NextToken` (must have been issued for the same operation).
pub fn page_request(
    input: &Input<'_>,
    operation: &str,
    default: usize,
    min: usize,
    max: usize,
) -> ApiResult<PageRequest> {
    let limit = match input.i64_opt("MaxResults")? {
        Some(v) => {
            check_range(&input.member("MaxResults"), v, min as i64, max as i64)?;
            v as usize
        }
        None => default,
    };
    let offset = match input.str_opt("NextToken")? {
        Some(token) => decode_token(operation, token)?,
        None => 0,
    };
    Ok(PageRequest { offset, limit })
}

/// Cuts one page out of the full, already filtered and sorted result.
pub fn paginate<T>(items: Vec<T>, operation: &str, page: PageRequest) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let end = page.offset.saturating_add(page.limit).min(total);
    let next = (end < total).then(|| encode_token(operation, end));
    let items = items
        .into_iter()
        .skip(page.offset)
        .take(end.saturating_sub(page.offset))
        .collect();
    (items, next)
}

/// Tokens are hex of `<operation>:<offset>` so they look opaque and cannot be
/// replayed against another operation.
pub fn encode_token(operation: &str, offset: usize) -> String {
    format!("{operation}:{offset}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn decode_token(operation: &str, token: &str) -> ApiResult<usize> {
    let invalid = || ApiError::validation(format!("Invalid pagination token {token}"));
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (op, offset) = text.rsplit_once(':').ok_or_else(invalid)?;
    if op != operation {
        return Err(invalid());
    }
    offset.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_through_everything() {
        let items: Vec<u32> = (0..25).collect();
        let mut page = PageRequest { offset: 0, limit: 10 };
        let mut seen = Vec::new();
        loop {
            let (chunk, next) = paginate(items.clone(), "ListDomains", page);
            seen.extend(chunk);
            match next {
                Some(t) => page.offset = decode_token("ListDomains", &t).unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn tokens_are_bound_to_the_operation() {
        let t = encode_token("ListApps", 10);
        assert!(decode_token("ListSpaces", &t).is_err());
        assert!(decode_token("ListApps", "not-hex").is_err());
    }

    #[test]
    fn max_results_bounds() {
        let body = json!({"MaxResults": 0});
        assert!(page_request(&Input::new(&body), "ListDomains", 10, 1, 100).is_err());
        let body = json!({"MaxResults": 101});
        assert!(page_request(&Input::new(&body), "ListDomains", 10, 1, 100).is_err());
        let body = json!({});
        let p = page_request(&Input::new(&body), "ListDomains", 10, 1, 100).unwrap();
        assert_eq!(p, PageRequest { offset: 0, limit: 10 });
    }
}
