# Common tasks. `make test` is the one command that sets up and runs every test.
.PHONY: test build run generate css setup vet bench

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

test:
	scripts/test.sh

setup:
	scripts/setup.sh

build:
	go build -ldflags "-s -w -X main.version=$(VERSION)" -o da .

run:
	go run . serve --demo

generate: setup
	go tool templ generate
	npm run -s vendor
	npm run -s css

vet:
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...
