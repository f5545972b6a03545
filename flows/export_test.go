package flows

// IsQuestion exposes isQuestion to the external tests.
var IsQuestion = isQuestion
