package postgres

// ScramVerifier exposes scramVerifier to the tests, which check it against an independent
// SCRAM implementation.
var ScramVerifier = scramVerifier
