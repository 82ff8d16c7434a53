# Common tasks. `make test` is the one command that sets up and runs every test.
.PHONY: test build run generate css setup vet bench bench-micro

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

# The real server as a separate process over HTTP, next to DuckDB and ServeFile, in one run
# (README "Performance"). BENCH_FLAGS=-quick for a short run while iterating.
bench:
	go run ./bench $(BENCH_FLAGS)

# The in-process micro-benchmarks (testing.B).
bench-micro:
	go test -run '^$$' -bench . -benchmem ./...
