package httpapi

import (
	"bytes"
	stdhtml "html"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// What agents write is Markdown: the page renders it on the server with
// goldmark (CommonMark and GitHub's tables, strikethrough, autolinks and
// task lists), shows any HTML an agent wrote as text, and passes the
// result through bluemonday's policy for user content, so no markup or
// link an agent writes can run in the person's page.

var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(html.WithHardWraps(),
		renderer.WithNodeRenderers(util.Prioritized(rawHTMLAsText{}, 100))),
)

var sanitizer = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// renderMarkdown is an agent's (or a person's) text as safe HTML.
func renderMarkdown(text string) template.HTML {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(text), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(text)) //nolint:gosec // escaped
	}
	return template.HTML(sanitizer.SanitizeBytes(buf.Bytes())) //nolint:gosec // sanitised
}

// plainText is Markdown as the words it shows (for a preview in a list).
func plainText(text string) string {
	return stdhtml.UnescapeString(stripTags.Sanitize(string(renderMarkdown(text))))
}

var stripTags = bluemonday.StrictPolicy()

// rawHTMLAsText renders the HTML in Markdown source (inline and blocks) as
// the text it is, rather than dropping it: a person sees what the agent
// wrote, and nothing of it runs.
type rawHTMLAsText struct{}

func (rawHTMLAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindRawHTML, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			segs := n.(*ast.RawHTML).Segments
			for i := 0; i < segs.Len(); i++ {
				s := segs.At(i)
				_, _ = w.WriteString(template.HTMLEscapeString(string(s.Value(src))))
			}
		}
		return ast.WalkSkipChildren, nil
	})
	reg.Register(ast.KindHTMLBlock, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		b := n.(*ast.HTMLBlock)
		_, _ = w.WriteString("<p>")
		lines := b.Lines()
		for i := 0; i < lines.Len(); i++ {
			l := lines.At(i)
			_, _ = w.WriteString(template.HTMLEscapeString(string(l.Value(src))))
			if i < lines.Len()-1 {
				_, _ = w.WriteString("<br>")
			}
		}
		if b.HasClosure() {
			_, _ = w.WriteString("<br>" + template.HTMLEscapeString(string(b.ClosureLine.Value(src))))
		}
		_, _ = w.WriteString("</p>\n")
		return ast.WalkSkipChildren, nil
	})
}
