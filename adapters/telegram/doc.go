// Package telegram is the Telegram channel: people in a private chat with
// the bot, or in a group it was added to, get the whole troubleshooting
// conversation there, with the quick replies drawn as inline keyboards.
//
// It sits at the edge of the pipeline (adapters → bot → flows → kb): an
// update from the Bot API becomes a bot.Message for the engine's Handle,
// and the engine's replies come back through the Adapter's Send
// (bot.Sender), so register it: a.Register(engine). It is the only
// package that imports go-telegram-bot-api.
//
// With a moderators' chat configured (Config.ModChatID) the channel is
// also a moderators' place (bot.ModPlace), for tickets from every channel:
// each is posted there with Claim, Resolve and Return buttons (in a forum
// topic of its own when the group has topics), and what moderators do
// there, buttons, /claim N and the other commands, replies to a ticket,
// goes to the engine's Moderate. Nothing said in that chat reaches Handle.
//
// Updates arrive by long polling (getUpdates, the offset kept) or, when
// configured, by a webhook registered with a secret token. In private
// chats every message counts; in groups only a message that mentions the
// bot, replies to it, or is one of its commands. Conversations are per
// user (bot.Key), never per group. The bot token never appears in a log
// line or an error: the library puts it in request URLs, so every error
// is scrubbed.
package telegram
