"""Planning: desired state x recorded state -> ordered actions, phases and the delete guard."""
