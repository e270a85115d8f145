package rabbitmq

// PasswordHash exposes passwordHash to the tests, which check it against the format RabbitMQ
// documents; logging in with it is checked against the real node.
var PasswordHash = passwordHash
