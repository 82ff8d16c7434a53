# Common tasks. `make test` is the one command that sets up and runs every test.
.PHONY: test build run generate css setup vet bench bench-micro

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

test:
	scripts/test.sh

setup:
	scripts/setup.sh

build:
	go build -ldflags "-s -w -X main.version=$(VERSION)" -o da .

# ADDR is the listen address of `make run`: `make run ADDR=:9000` serves on port 9000.
ADDR ?= :8000

run:
	@echo "==> Compiling da. The first build compiles DuckDB's C++ library and takes a few minutes on a cold machine; later builds take seconds."
	@go build -ldflags "-X main.version=$(VERSION)" -o da .
	@echo "==> Starting the demo server on $(ADDR) with data in ./data (Ctrl+C stops it)"
	./da serve --demo --addr $(ADDR)

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
