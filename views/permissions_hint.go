package views

import "strings"

// grantPlaceholder shows examples from this instance in the grant form: a table id and a
// bucket wildcard from the suggestions, when there are any.
func grantPlaceholder(datasets []string) string {
	var id, bucket string
	for _, d := range datasets {
		if strings.HasSuffix(d, ".*") {
			if bucket == "" {
				bucket = d
			}
		} else if id == "" {
			id = d
		}
	}
	switch {
	case id != "" && bucket != "":
		return id + " or " + bucket
	case id != "":
		return id
	case bucket != "":
		return bucket
	}
	return "register or upload a table first"
}
