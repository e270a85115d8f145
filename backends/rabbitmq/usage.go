package rabbitmq

import (
	"context"
	"fmt"

	"github.com/omnibroker/omnibroker/backends"
)

// Usage counts the queues of the instance's vhost and the messages in them, as the management
// API last sampled them (every few seconds).
func (r *RabbitMQ) Usage(ctx context.Context, req backends.UsageRequest) (backends.UsageResponse, error) {
	n, err := r.node(req.Instance.Node)
	if err != nil {
		return backends.UsageResponse{}, err
	}
	vhost := vhostName(req.Instance)
	queues, err := n.api(ctx).ListQueuesIn(vhost)
	if notFound(err) {
		return backends.UsageResponse{}, backends.Permanent(fmt.Sprintf("vhost %s is not on node %s", vhost, n.Name), nil)
	}
	if err != nil {
		return backends.UsageResponse{}, n.fail("list the queues of vhost "+vhost, err)
	}
	var messages int64
	for _, q := range queues {
		messages += int64(q.Messages)
	}
	return backends.UsageResponse{Figures: []backends.Figure{
		{Name: "queues", Value: int64(len(queues))},
		{Name: "messages", Value: messages},
	}}, nil
}
