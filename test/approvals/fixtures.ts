/** The schema and rules of the approval tests: a database an agent may delete, for alice. */
export const SCHEMA = `
definition agent {}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
caveat sensitive(sensitivity int) {
  sensitivity >= 0
}
definition database {
  relation owner: user
  relation operator: user | agent
  relation approver: user
  permission delete = owner + operator
  permission read = owner + operator
  permission approve = approver
}`;

export const RULES = `rules:
  - id: prod-delete
    resource: database
    permission: delete
    subjects: [agent]
    approvers: approve
    valid_for: 15m
    single_use: true
`;
