"""Planning: model facts, hardware, memory estimate, recommendation, decision tree, wizard answers."""
