%% Something to call over distribution from outside the release.
-module(hello).
-export([info/0]).

%% This node, and how it reaches its host's EPMD (server: the port mapper
%% runs in this VM).
-spec info() -> #{node := node(), epmd_mode := epmd_rs:mode()}.
info() ->
    #{node => node(), epmd_mode => epmd_rs:mode()}.
