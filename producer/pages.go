package producer

import (
	"embed"
	html "html/template"
)

// web holds the HTML pages the API serves, and openapi.json its description.
//
//go:embed web/*.html openapi.json
var web embed.FS

var (
	loginPage = html.Must(html.ParseFS(web, "web/login.html"))
	docsPage  = html.Must(html.New("docs.html").Funcs(docsFuncs).ParseFS(web, "web/docs.html"))
)
