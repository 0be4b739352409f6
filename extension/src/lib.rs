//! coldmark: an external AWS Lambda extension that writes one JSON marker per cold start.
