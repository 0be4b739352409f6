//! An X-Ray trace header as an OpenTelemetry trace context, so that the init span joins the
//! trace of the request that waited for it.
//!
//! `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1` becomes trace
//! id `5759e988bd862e3fe1be46a994272793` (the root's 8 + 24 hex digits: its version `1-` and
//! its dashes dropped — X-Ray's and W3C's trace ids are both 128 bits, the first 32 of X-Ray's
//! being the epoch seconds), parent span id `53995c3f42cd8ad8`, sampled. This is the mapping
//! OpenTelemetry's AWS X-Ray propagator uses.

/// What a trace header says about the request's trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: [u8; 16],
    /// The span the request's trace hands down (`Parent`); none when the header has none.
    pub(crate) parent_span_id: Option<[u8; 8]>,
    /// `Sampled=1`; `false` for `0`, `?` or no flag.
    pub(crate) sampled: bool,
}

/// Reads an X-Ray trace header (`Root=…;Parent=…;Sampled=…`, any order, `Lineage` and other
/// keys ignored); `None` when it has no valid root (then the span gets a trace of its own).
pub(crate) fn parse(header: &str) -> Option<TraceContext> {
    let mut trace_id = None;
    let mut parent_span_id = None;
    let mut sampled = false;
    for part in header.split(';') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "Root" => trace_id = root(value.trim()),
            "Parent" => parent_span_id = hex::<8>(value.trim()).filter(|id| *id != [0; 8]),
            "Sampled" => sampled = value.trim() == "1",
            _ => {}
        }
    }
    Some(TraceContext {
        trace_id: trace_id?,
        parent_span_id,
        sampled,
    })
}

/// `1-<8 hex>-<24 hex>` → 16 bytes; not all zero (an invalid W3C trace id).
fn root(value: &str) -> Option<[u8; 16]> {
    let rest = value.strip_prefix("1-")?;
    let (time, unique) = rest.split_once('-')?;
    if time.len() != 8 || unique.len() != 24 {
        return None;
    }
    hex::<16>(&format!("{time}{unique}")).filter(|id| *id != [0; 16])
}

/// Exactly `2 * N` hex digits → `N` bytes.
fn hex<const N: usize>(digits: &str) -> Option<[u8; N]> {
    if digits.len() != 2 * N || !digits.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn awss_documented_header_converts() {
        let ctx =
            parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .unwrap();
        assert_eq!(hex_of(&ctx.trace_id), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(hex_of(&ctx.parent_span_id.unwrap()), "53995c3f42cd8ad8");
        assert!(ctx.sampled);
    }

    #[test]
    fn order_spaces_lineage_and_missing_parts() {
        let ctx = parse(
            " Sampled=0 ; Lineage=a87bd80c:1|68fd508a:5 ;Root=1-67891233-abcdef012345678912345678",
        )
        .unwrap();
        assert_eq!(hex_of(&ctx.trace_id), "67891233abcdef012345678912345678");
        assert_eq!(ctx.parent_span_id, None);
        assert!(!ctx.sampled);
        let ctx = parse("Root=1-67891233-abcdef012345678912345678;Sampled=?").unwrap();
        assert!(!ctx.sampled);
    }

    #[test]
    fn a_header_without_a_valid_root_gives_no_context() {
        for bad in [
            "",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e98g-bd862e3fe1be46a994272793",
            "Root=1-00000000-000000000000000000000000",
            "Root=1-ü759e98-bd862e3fe1be46a994272793",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        // A bad parent leaves the root: the span joins the trace at its top.
        let ctx = parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz").unwrap();
        assert_eq!(ctx.parent_span_id, None);
    }
}
