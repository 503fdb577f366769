module example.invalid/wxcoupon

// Debian bookworm's golang-go. Standard library only: no module proxy is needed to build or test.
go 1.19
