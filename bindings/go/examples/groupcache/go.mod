// A module of its own, so that `go vet ./...` and `go test ./...` of the
// bindings (standard library only) leave this example out. It is built in
// GOPATH mode against Debian's golang-github-golang-groupcache-dev: see
// README.md beside this file (make cluster-test does it).
module github.com/thumbnail-rs/thumbnail/bindings/go/examples/groupcache

go 1.19
