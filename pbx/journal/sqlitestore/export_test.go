package sqlitestore

// CallsQuery exposes callsQuery to the tests (query plans).
var CallsQuery = callsQuery
