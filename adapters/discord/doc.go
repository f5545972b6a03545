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
// itself. Every interaction is acknowledged at once and answered after the
// turn; a press on a closed question gets a private (ephemeral) reply.
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
