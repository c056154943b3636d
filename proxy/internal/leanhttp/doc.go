// Package leanhttp is the HTTP/1.1 front end of the proxy: a lean
// request loop that reads every request head itself, answers a GET or
// HEAD without a body with one writev for the header and the first body
// bytes, and hands any other request, one at a time, to a net/http
// server (Server.Fallback), which also serves HTTP/2. A client that stops
// reading is cut after Server.WriteTimeout without progress (progress.go).
//
// It uses nothing else of the project: the handler is any http.Handler,
// and the answer to a request head it refuses is written by a hook
// (Server.Refuse), which the proxy sets to its S3 error writer
// (proxy.NewServer).
package leanhttp
