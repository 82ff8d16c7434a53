package handlers

import (
	"os"
	"testing"

	"da/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
