package fault

// NewSink is newSink, for the specs: die is what the sink calls in place of killing the process.
var NewSink = newSink
