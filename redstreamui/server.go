package redstreamui

import (
	"net/http"

	"github.com/redstream-go/redstream"
)

type serverData struct {
	RedisURL string
	Version  redstream.ServerInfo
}

func (u *ui) serverPage(r *http.Request) (string, string, any, error) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	v, err := redstream.ServerVersion(ctx, u.client)
	if err != nil {
		return "", "", nil, err
	}
	return "server", "Server", &serverData{RedisURL: u.cfg.redisURL, Version: v}, nil
}
