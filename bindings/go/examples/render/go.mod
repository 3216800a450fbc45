module example.com/render

go 1.19

require github.com/thumbnail-rs/thumbnail/bindings/go v0.0.0

replace github.com/thumbnail-rs/thumbnail/bindings/go => ../..
