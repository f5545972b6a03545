// Package bot is the core of dmdoctor: the message and reply types, the
// conversation state, the Engine that runs one turn, and the small
// interfaces (ports) it consumes, declared in ports.go.
//
// Channels (adapters/console, adapters/telegram, adapters/discord) turn
// platform updates into Messages and call Engine.Handle; the engine
// classifies the text (a Classifier, in practice an intents.Model), runs
// the conversation flow (package flows) under a per-conversation lock,
// stores the new state and the outgoing replies in one unit (a Store),
// and delivers the replies through the channel's Sender. It imports no
// chat SDK, no database driver and no adapter.
package bot
