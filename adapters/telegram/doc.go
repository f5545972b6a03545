// Package telegram is the Telegram channel: people in a private chat with
// the bot, or in a group it was added to, get the whole troubleshooting
// conversation there, with the quick replies drawn as inline keyboards.
//
// It sits at the edge of the pipeline (adapters → bot → flows → kb): an
// update from the Bot API becomes a bot.Message for the engine's Handle,
// and the engine's replies come back through the Adapter's Send
// (bot.Sender), so register it: engine.Register(telegram.Channel, a). It
// is the only package that imports go-telegram-bot-api.
//
// Updates arrive by long polling (getUpdates, the offset kept) or, when
// configured, by a webhook registered with a secret token. In private
// chats every message counts; in groups only a message that mentions the
// bot, replies to it, or is one of its commands. Conversations are per
// user (bot.Key), never per group. The bot token never appears in a log
// line or an error: the library puts it in request URLs, so every error
// is scrubbed.
package telegram
