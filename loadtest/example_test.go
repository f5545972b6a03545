package loadtest_test

import (
	"context"
	"fmt"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/loadtest"
	"github.com/dmdoctor/dmdoctor/store/memory"
)

func ExampleRun() {
	p, err := assistant() // brain.Start(""), once
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := loadtest.Run(context.Background(), loadtest.Config{
		KB: p.kb, Classifier: p.model, Users: 30, Turns: 10,
		Open: func(context.Context) (bot.Store, error) { return memory.New(), nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Messages, "messages, checks passed:", rep.OK())
	// Output: 300 messages, checks passed: true
}
