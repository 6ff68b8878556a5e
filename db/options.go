package db

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a question's options.
const (
	MaxOptions        = 20
	MaxOptionLabelLen = 500
)

// Omnara's options block: at the end of a question's text,
//
//	[OPTIONS]
//	1. Yes
//	2. No
//	[/OPTIONS]
const (
	optionsOpen  = "[OPTIONS]"
	optionsClose = "[/OPTIONS]"
)

// SplitOptions reads Omnara's options block at the end of a question's
// content: the text before it and the labels (numbering removed). Content
// without a well-formed block at its end is all text, with no options.
func SplitOptions(content string) (text string, options []string) {
	trimmed := strings.TrimRight(content, " \t\r\n")
	if !strings.HasSuffix(trimmed, optionsClose) {
		return content, nil
	}
	open := strings.LastIndex(trimmed, optionsOpen)
	if open < 0 {
		return content, nil
	}
	body := trimmed[open+len(optionsOpen) : len(trimmed)-len(optionsClose)]
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		options = append(options, stripNumber(line))
	}
	if len(options) == 0 {
		return content, nil
	}
	return strings.TrimRight(trimmed[:open], " \t\r\n"), options
}

// stripNumber removes a list number ("1. ", "2) ") from a label.
func stripNumber(line string) string {
	i := 0
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i > 0 && i < len(line) && (line[i] == '.' || line[i] == ')') {
		return strings.TrimSpace(line[i+1:])
	}
	return line
}

// withOptionsBlock appends Omnara's options block to text, so Omnara's
// clients, which read options only from the content, show them too.
func withOptionsBlock(text string, options []string) string {
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\n\n" + optionsOpen + "\n")
	for i, o := range options {
		b.WriteString(strconv.Itoa(i+1) + ". " + o + "\n")
	}
	b.WriteString(optionsClose)
	return b.String()
}

// validateOptions checks a question's labels: at most MaxOptions, each
// non-empty, single-line, at most MaxOptionLabelLen characters, no two
// alike (an answer names an option by its label).
func validateOptions(options []string) error {
	if len(options) > MaxOptions {
		return Errorf(EInvalid, "options: at most %d", MaxOptions)
	}
	seen := make(map[string]bool, len(options))
	for i, o := range options {
		switch {
		case strings.TrimSpace(o) == "":
			return Errorf(EInvalid, "options[%d] must not be empty", i)
		case strings.ContainsAny(o, "\r\n"):
			return Errorf(EInvalid, "options[%d] must be one line", i)
		case utf8.RuneCountInString(o) > MaxOptionLabelLen:
			return Errorf(EInvalid, "options[%d] is longer than %d characters", i, MaxOptionLabelLen)
		}
		key := labelKey(o)
		if seen[key] {
			return Errorf(EInvalid, "options[%d] repeats an earlier option", i)
		}
		seen[key] = true
	}
	return nil
}

// labelKey is how an answer is matched to a label: trimmed, case folded.
func labelKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// OptionIndex is the option an answer chose among a question's options:
// the index the answer gave when it named the question, else the option
// whose label the answer's text is; nil for free text.
func OptionIndex(question, answer Message) *int {
	if answer.OptionIndex != nil && answer.ReplyTo != nil && *answer.ReplyTo == question.ID &&
		int(*answer.OptionIndex) < len(question.Options) {
		i := int(*answer.OptionIndex)
		return &i
	}
	key := labelKey(answer.Content)
	for i, o := range question.Options {
		if labelKey(o) == key {
			return &i
		}
	}
	return nil
}
