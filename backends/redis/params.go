package redis

import (
	"fmt"
	"regexp"

	"github.com/omnibroker/omnibroker/backends"
)

// commandName is a command (such as eval), a subcommand (client|list) or an ACL category
// (@scripting), as ACL SETUSER takes them after a "-".
var commandName = regexp.MustCompile(`^@?[a-z][a-z0-9_-]*(\|[a-z0-9_-]+)?$`)

// planDenied reads the plan's denied_commands: commands, subcommands or @categories that the
// plan's binding users may not run, on top of deniedCommands. They become "-name" rules, so
// a name can only take away.
func planDenied(plan string, cfg map[string]any) ([]string, error) {
	names, ok := backends.StringList(cfg["denied_commands"])
	if !ok {
		return nil, backends.Permanent(
			fmt.Sprintf("plan %s sets denied_commands to something other than a list of command names", plan),
			fmt.Errorf("denied_commands is a %T", cfg["denied_commands"]))
	}
	rules := make([]string, 0, len(names))
	for _, name := range names {
		if !commandName.MatchString(name) {
			return nil, backends.Permanent(
				fmt.Sprintf("plan %s denies %q, which is not a lowercase command, subcommand or @category name", plan, truncate(name, 64)),
				fmt.Errorf("denied command does not match %s", commandName))
		}
		rules = append(rules, "-"+name)
	}
	return rules, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
