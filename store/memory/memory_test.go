package memory_test

import (
	"testing"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/store/memory"
	"github.com/dmdoctor/dmdoctor/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bot.Store { return memory.New() })
}
