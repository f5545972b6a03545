// Package loadtest drives the real engine with many simulated users at
// once, to measure it and to check that nothing is lost or duplicated
// under load (issue 7). It sits beside cmd/dmdoctor, outside the message
// pipeline: it plays the channels (a recording bot.Sender), the users
// (Script: free text from the knowledge base's evaluation examples,
// presses on the buttons of the last reply, typed option numbers, now and
// then a request for a person) and the moderators (a bot.ModPlace whose
// tickets are claimed, answered and resolved through Engine.Moderate).
//
// Run drives a bot.Engine on any bot.Store and returns a Report: turns per
// second, turn latency percentiles, peak memory, and the problems found
// (replies lost or sent twice, hand-offs without exactly one ticket,
// goroutines left behind). `go test ./loadtest` runs a small load;
//
//	go test ./loadtest -run TestLoad -users 10000 -turns 20 -v
//	go run ./cmd/dmdoctor loadtest -users 10000 -turns 20
//
// run the full one.
package loadtest
