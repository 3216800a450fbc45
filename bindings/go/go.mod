module github.com/thumbnail-rs/thumbnail/bindings/go

go 1.19
