// Package discord is the Discord channel: the assistant in servers and in
// DMs, through the bwmarrin/discordgo library.
//
// It sits at the edge of the pipeline, beside adapters/console and
// adapters/telegram: a gateway dispatch (MESSAGE_CREATE, INTERACTION_CREATE)
// becomes a bot.Message for the engine, and the engine's flows.Replies
// become Discord messages with buttons. Nothing outside this package
// imports discordgo.
//
// Where it answers: in a DM, always; in a server, when mentioned or through
// its slash commands (/troubleshoot, /human, /help), in a public thread it
// opens for that user, and then in that thread. It never answers bots or
// itself. Every interaction is acknowledged at once and answered as the
// engine sends the replies (Adapter.Send); a reply marked Private (to a
// press on a closed question) is an ephemeral follow-up, and /forget is
// answered privately in a server.
//
// With Config.ModChannelID the adapter is also a moderators' place
// (bot.ModPlace, see mod.go): hand-off tickets from every channel are
// posted in that channel with Claim, Resolve and Return buttons and a
// thread each; members with Config.ModRoleID work them with the buttons,
// /mod and by writing in the thread, which the engine relays to the user
// wherever they are. Nothing said in that channel reaches the assistant.
//
// Safety: every message sets allowed_mentions to nothing, text is escaped
// for Discord markdown, and replies over 2000 characters are split on line
// boundaries. REST calls go through discordgo's rate limiter with bounded,
// context-aware retries (Adapter.call); a reply that finally cannot be sent
// is logged and counted (bot.Observer.Undelivered). The token is never
// logged. A lost gateway connection is reopened and the session resumed;
// dispatches replayed on resume are answered once.
//
// DISCORD_API_URL (Config.APIURL) sends every REST call to a proxy that
// speaks Discord's API; it works by wrapping the session's HTTP client, as
// discordgo's endpoint variables are fixed when the program starts.
// Package discordtest has a fake Discord for tests.
package discord
