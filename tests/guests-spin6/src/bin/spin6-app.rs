// The spin-sdk 7 app of tests/guests-p3, unchanged, built against spin-sdk 6:
// the same source, as a user's app before its upgrade to 7.
include!("../../../guests-p3/src/bin/spin7-app.rs");
