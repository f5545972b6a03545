// Package adapters holds the channels that connect people to the engine:
// console (the terminal), telegram and discord. Each translates at the
// edge: a platform update becomes a bot.Message, a bot reply becomes a
// platform call. Only adapters/telegram imports the Telegram library and
// only adapters/discord imports discordgo.
package adapters
