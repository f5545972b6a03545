package telegram_test

import (
	"fmt"

	"github.com/dmdoctor/dmdoctor/adapters/telegram"
)

func ExampleConfigFromEnv() {
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN":      "123456:ABC-your-token",
		"TELEGRAM_WEBHOOK_URL":    "https://bot.example.org/telegram",
		"TELEGRAM_WEBHOOK_LISTEN": ":8443",
		"TELEGRAM_WEBHOOK_SECRET": "a-long-random-secret",
	}
	cfg, enabled, err := telegram.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(enabled, cfg.Webhook.PublicURL, cfg.Webhook.Listen)
	// Output: true https://bot.example.org/telegram :8443
}

func ExampleConfigFromEnv_moderators() {
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN":    "123456:ABC-your-token",
		"TELEGRAM_MOD_CHAT_ID":  "-1001234567890",
		"TELEGRAM_MOD_USER_IDS": "111111, 222222",
	}
	cfg, _, err := telegram.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.ModChatID, cfg.ModUserIDs)
	// Output: -1001234567890 [111111 222222]
}
