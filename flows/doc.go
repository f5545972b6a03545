// Package flows is the conversation logic of dmdoctor: a pure state machine
// over the knowledge base.
//
// It sits between the engine (package bot) and the knowledge base (package
// kb): the engine classifies a message, hands flows the conversation's
// State, the Input and the KB, and flows returns the next State and the
// Replies. Step has no clock, no I/O and no goroutines, so the whole
// troubleshooting logic is tested with plain tables and golden transcripts.
//
// A conversation that starts with "TikTok won't let me send messages" and
// no cause named enters triage: flows keeps a belief over the causes, asks
// the question that best splits the remaining candidates (expected
// information gain over the answers' likelihoods in kb/data/triage.yaml)
// and stops as soon as one cause is clear. A named cause is confirmed with
// a cheap question where the KB has one, its fix steps are given and the
// user is asked whether they worked; if not, the next most likely cause is
// tried, and when the likely causes are used up a human is offered.
package flows
