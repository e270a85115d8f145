package main

import (
	"flag"

	"github.com/omnibroker/omnibroker/operator"
)

// operatorFlags are the flags of the operator commands, one set for them all as several share
// them, declared here for every command (declareOperatorFlags, then the command's own below).
type operatorFlags struct {
	// jsonW is --json, which every operator command takes: print JSON instead of text.
	jsonW bool
	// yes is --yes of orphans --purge and instances purge (declareYes).
	yes bool
	// reason is --reason of operations cancel and nodes drain.
	reason string
	// instances is the filter of instances; forget is instances purge --forget.
	instances operator.InstanceFilter
	forget    bool
	// scope, purge and restore are the flags of orphans.
	scope          operator.Scope
	purge, restore bool
	// operations is the filter of operations.
	operations operator.OperationFilter
}

// operatorArgs are the flags of the operator command that runs.
var operatorArgs operatorFlags

// declareOperatorFlags is the flags function of an operator command whose own flags declare
// declares (nil for none): it clears operatorArgs, then declares --json and those.
func declareOperatorFlags(declare func(fs *flag.FlagSet)) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		operatorArgs = operatorFlags{}
		fs.BoolVar(&operatorArgs.jsonW, "json", false, "print JSON instead of text")
		if declare != nil {
			declare(fs)
		}
	}
}

// declareYes declares --yes, which purges without asking.
func declareYes(fs *flag.FlagSet) {
	fs.BoolVar(&operatorArgs.yes, "yes", false, "purge without asking")
}

// The own flags of orphans, instances, instances purge, operations, operations cancel and nodes
// drain.
func declareOrphansFlags(fs *flag.FlagSet) {
	fs.StringVar(&operatorArgs.scope.Backend, "backend", "", "only the nodes of this backend")
	fs.StringVar(&operatorArgs.scope.Node, "node", "", "only this node")
	fs.StringVar(&operatorArgs.scope.Object, "object", "", "only the object of this name")
	fs.BoolVar(&operatorArgs.purge, "purge", false, "remove each orphan, through the queue, after asking")
	fs.BoolVar(&operatorArgs.restore, "restore", false, "make the gone logins of live bindings again with their sealed passwords")
	declareYes(fs)
}

func declareInstancesFlags(fs *flag.FlagSet) {
	fs.StringVar(&operatorArgs.instances.Node, "node", "", "only the instances on this node")
	fs.StringVar(&operatorArgs.instances.Plan, "plan", "", "only the instances of this plan (its name or id)")
	fs.StringVar(&operatorArgs.instances.State, "state", "", "only the instances in this state (provisioning, ready, updating, deprovisioning, failed, delete_failed)")
}

func declarePurgeFlags(fs *flag.FlagSet) {
	fs.BoolVar(&operatorArgs.forget, "forget", false, "remove it from the state database alone, and print what may be left on its node")
	declareYes(fs)
}

func declareOperationsFlags(fs *flag.FlagSet) {
	fs.StringVar(&operatorArgs.operations.State, "state", "", "only operations in this state: queued, running, failed or succeeded; none lists the first three")
	fs.StringVar(&operatorArgs.operations.Instance, "instance", "", "only the operations of this instance and its bindings")
	fs.DurationVar(&operatorArgs.operations.OlderThan, "older-than", 0, "only operations created at least this long ago, such as 10m; a queued or running one is then stuck, and exits 1")
}

func declareCancelFlags(fs *flag.FlagSet) {
	fs.StringVar(&operatorArgs.reason, "reason", "", "why, in a sentence the platform shows its user on last_operation (required)")
}

func declareDrainFlags(fs *flag.FlagSet) {
	fs.StringVar(&operatorArgs.reason, "reason", "", "why, for the record of repairs")
}
