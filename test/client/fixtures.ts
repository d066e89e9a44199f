/** The schema and data both the server tests and the client contract suite use. */
export const SCHEMA = `use expiration

caveat max_level(level int, limit int) {
  level <= limit
}

definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation viewer: user | group#member
  permission view = viewer
}

definition document {
  relation parent: folder
  relation viewer: user | group#member | user:* | user with max_level
  relation banned: user
  permission view = (viewer + parent->view) - banned
}
`;

export const RELATIONSHIPS = [
  "group:eng#member@user:alice",
  "folder:plans#viewer@group:eng#member",
  "document:q3#parent@folder:plans",
  "document:memo#viewer@user:bob",
  'document:secret#viewer@user:carol[max_level:{"limit":3}]',
  "document:public#viewer@user:*",
  "document:public#banned@user:mallory",
];
