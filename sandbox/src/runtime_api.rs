//! The Lambda Runtime API (2018-06-01) the function's bootstrap talks to.
//! placeholder
