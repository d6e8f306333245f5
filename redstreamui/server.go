package redstreamui

import (
	"net/http"

	"github.com/redstream-go/redstream"
)

type serverData struct {
	RedisURL string // redacted
	Stats    *redstream.ServerStats
}

func (u *ui) serverPage(r *http.Request) (string, string, any, error) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	st, err := u.in.Server(ctx)
	if err != nil {
		return "", "", nil, err
	}
	return "server", "Server", &serverData{RedisURL: u.cfg.redisURL, Stats: st}, nil
}
