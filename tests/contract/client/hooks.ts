// What the admin UI's code imports from its generated hooks (API.md, "The OpenAPI document is
// part of the contract"). A renamed or missing operationId makes this fail to compile.
import {
  useDeleteConfigsByMacAddress,
  useGetConfigs,
  useGetConfigsByMacAddress,
  usePutConfigsByMacAddress,
} from "./generated/hooks";

export const hooks = [
  useGetConfigs,
  useGetConfigsByMacAddress,
  usePutConfigsByMacAddress,
  useDeleteConfigsByMacAddress,
];
