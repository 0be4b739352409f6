//! How long coldmark lets Lambda's APIs take during init, shared by the calls and their errors.

use std::time::Duration;

/// coldmark's own init budget: registration and subscription together, before the first
/// `/event/next`. Both normally answer within milliseconds; an API that does not answer within
/// this long is not one coldmark can work with, and the function's init (which Lambda limits
/// to 10 s for the runtime and every extension together) must not wait on it any longer.
pub(crate) const INIT_BUDGET: Duration = Duration::from_secs(2);
