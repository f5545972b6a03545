// Package telegramtest is a fake Telegram Bot API server for tests, on
// loopback, speaking the real wire format (form-encoded requests,
// {"ok":…,"result":…} answers), so the real Telegram library is exercised,
// in process or in a child process given the server's URL
// (TELEGRAM_API_URL).
//
// It keeps an update queue with getUpdates semantics like the real API:
// an update is handed out again and again until a getUpdates call with an
// offset above its update_id confirms it, so a client that dies before
// confirming gets its updates once more. It records every call, keeps the
// messages the bot sent (text, keyboards, edits), and injects faults:
// 429 with retry_after, 5xx, 403, slow answers, answers held back until
// the test releases them, dropped connections, updates delivered twice.
//
// It sits beside adapters/telegram, which it serves in that package's
// tests, and is used by cmd/dmdoctor's crash tests of the whole binary.
// It imports no Telegram library.
package telegramtest
